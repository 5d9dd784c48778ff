select user_id, sum(amount) as total from {{ ref('events') }} group by user_id

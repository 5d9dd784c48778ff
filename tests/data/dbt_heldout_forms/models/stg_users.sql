select * from {{ source('app', 'people') }}

{{ config(materialized='incremental', unique_key='id') }}
select * from {{ ref('stg_sales') }}
{% if is_incremental() %}
where sold_at > (select max(sold_at) from {{ this }})
{% endif %}
